//! Wire types (prost) for Prometheus remote_write 1.0 and 2.0. No logic beyond encoding.
