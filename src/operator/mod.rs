//! The operator: controllers that take each resource from its recorded status to its desired spec, one step at a
//! time. `decide` is pure; `observe` and `act` do the IO; status is the write-ahead log.

pub mod decide;
pub mod reconciled;
