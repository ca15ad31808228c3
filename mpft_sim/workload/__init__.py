"""Traffic generators: turn a workload spec into the flows and programs the engine runs."""
