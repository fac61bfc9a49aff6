"""Provider batch APIs: the same requests at about half the price, resumable across kills.

``flow.BatchSession`` submits, resumes, polls and collects; ``lines`` says what goes in a batch;
``lessons`` applies what online asking learned about an endpoint (and learns from batch results);
``records`` is the store's record of every batch (migration 005); ``manage`` lists and cancels them
(``whosevalues batches``); ``costs`` puts batch prices in the dry run. The provider side
is in ``models/batch_*.py``.
"""

from whosevalues.elicit.batch.flow import BatchSession
from whosevalues.elicit.batch.lines import custom_id, split_by_limits

__all__ = ["BatchSession", "custom_id", "split_by_limits"]
