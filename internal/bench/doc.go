// Package bench holds side-by-side benchmarks of containertest, the raw Docker API and
// testcontainers-go. It is a module of its own so that testcontainers-go never reaches
// the library's users.
package bench
