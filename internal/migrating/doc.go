// Package migrating holds the containertest side of MIGRATING.md, the guide from
// testcontainers-go: every row's code is an example here, so that it compiles with the
// library as it is. The examples need an engine and so have no Output comment: go test
// compiles them and does not run them.
package migrating
