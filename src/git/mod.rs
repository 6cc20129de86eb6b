//! Git: following a branch (fetch, poll, file watch, push webhook) and reading trees at a revision.
