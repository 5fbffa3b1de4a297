"""``make bench``: throughput and latency of the OMS against PostgreSQL itself (see __main__)."""
