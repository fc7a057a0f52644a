-- auto's search, kept with the version it produced: every trial (recipe, hyperparameters, validation NDCG@10,
-- seconds), the recipes left out and why, and whether the time budget ended it. Null for versions trained by hand.
alter table model_versions add column search jsonb;
