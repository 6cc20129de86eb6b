//! The ownership table: which owner (git, operator, autoscaler, an HPA) owns which field, used by plan, drift,
//! apply and write-back alike.
