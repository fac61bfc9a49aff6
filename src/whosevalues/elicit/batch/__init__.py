"""Provider batch APIs: the same requests at about half the price, resumable across kills.

``flow.BatchSession`` submits, resumes, polls and collects; ``records`` is the store's record of every
batch (migration 005); ``manage`` lists and cancels them (``whosevalues batches``). The provider side
is in ``models/batch_*.py``.
"""

from whosevalues.elicit.batch.flow import BatchSession, custom_id, split_by_limits

__all__ = ["BatchSession", "custom_id", "split_by_limits"]
