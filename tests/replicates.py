"""Replicate counts for test analyses whose checks do not depend on the resampling methods (exclusions, skipped
and dropped terms, formulas, populations.json, countries_<survey>.csv): no bootstrap over models, and the fewest
wild-bootstrap and permutation replicates the model-level columns accept."""

FEW_REPLICATES = {"bootstrap": 0, "wild_bootstrap": 99, "permutations": 99}
