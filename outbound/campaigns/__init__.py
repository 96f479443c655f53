"""Campaign-level operations that span the store and Temporal (start, enroll)."""
