"""Model versions in Git + DVC: git plumbing, ``dvc.lock`` reading, history and rollback."""
