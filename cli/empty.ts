// The start-up floor for the benchmark: built exactly like the real binary, does nothing.
process.exitCode = 0;
