"""Service levels: targets per service and metric, measurements, and their weekly evaluation."""
