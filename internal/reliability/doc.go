// Package reliability holds the framework's reliability and security suite: bad input
// across the public API, faults of containers and of the engine connection, load,
// fuzz targets and security defaults. Its only non-test code is Proxy, a cuttable
// unix-socket proxy in front of the engine for the fault tests.
//
// scripts/reliability.sh runs the suite and writes RELIABILITY.md from that one run.
package reliability
