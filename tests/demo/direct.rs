//! Direct-AWS demos and reports (being written).
