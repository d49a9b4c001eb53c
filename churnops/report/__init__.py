"""The operator's report over time: the monitor's drift, CBPE's estimated F1, realized F1 and prod's periods."""
