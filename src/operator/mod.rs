//! The operator: controllers that take each resource from its recorded status to its desired spec, one step at a
//! time. `decide` is pure; `observe` and `act` do the IO; status is the write-ahead log.

pub mod autoscale;
pub mod controller;
pub mod crashpoint;
pub mod decide;
pub mod health;
pub mod managed;
pub mod manager;
pub mod observe;
pub mod reconciled;
pub mod safeguards;
pub mod status;
pub mod sync_record;
pub mod write_back;
