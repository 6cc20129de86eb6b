//! Acceptance tests of the simulator on the shipped scenarios (`scenarios/*.yaml`).
