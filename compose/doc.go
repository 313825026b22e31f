// Package compose starts the services of a Compose file as containers of a test,
// through the containers package: no Docker CLI and no docker compose are needed.
//
// A Project describes what to start; Up starts it for a test and returns a Stack of
// ready containers that is removed when the test ends:
//
//	func TestShop(t *testing.T) {
//		stack := compose.File("testdata/compose.yaml").
//			Env("TAG", "test").                  // a variable for ${TAG} in the file
//			WaitFor("web", wait.ForHTTP("/health").Port("80")).
//			Up(t)
//		resp, err := http.Get(stack.Service("web").URL("http", "80") + "/")
//		// ...
//	}
//
// The file is read with the Compose specification's reference loader
// (compose-spec/compose-go), so interpolation, .env files, env_file, extends,
// include, profiles and override files behave as with docker compose.
//
// # Isolation
//
// Every Up is its own Compose project with a unique name (the file's project name
// followed by a unique suffix), so parallel tests, and test processes, can start the
// same file at once: each gets its own containers, networks and volumes. Services
// reach each other by service name and network aliases on the stack's networks.
// Ports listed under "ports" are published at random host ports on 127.0.0.1, not
// at the fixed host port of the file; ask the container for them with
// stack.Service("web").MappedPort("80"). Project.FixedPorts keeps the file's host
// ports, for a person who wants localhost:8080 while a test holds the stack. "container_name" and external networks
// and volumes are honoured, but they are shared by every stack that uses them.
//
// Containers, networks and volumes carry Compose's labels (com.docker.compose.project,
// .service, .container-number, .oneoff, .network, .volume), so that
// "docker compose -p NAME ps" lists a stack while it runs; stack.Name() is NAME.
//
// # Readiness
//
// Up returns when every service is ready: a service with a health check (its own or
// its image's) is healthy, one that another service depends on with
// "condition: service_completed_successfully" has exited with code 0, and every TCP
// port a service publishes accepts connections. Project.WaitFor adds strategies of
// the test's to that readiness of a service, in place of the port wait. A
// StartTimeout set with Project.With bounds a service's wait (default:
// CONTAINERTEST_START_TIMEOUT or 60 s, or the context's deadline). depends_on is
// honoured with its conditions: service_started, service_healthy and
// service_completed_successfully; independent services start concurrently.
//
// A service whose health check reports unhealthy, or that exits while Up waits for
// it (a one-shot: with a code other than 0), fails Up at once with its name, exit
// code and last log lines. Everything the stack started is removed: by Run at once,
// by Up when the test ends (or kept under CONTAINERTEST_KEEP; the test's log then
// names the docker compose commands that list the stack and show its logs).
//
// # Unsupported keys
//
// A key this package cannot honour faithfully (for instance network_mode: host, or
// an ipv4_address) is an error that names the service and the key and wraps
// ErrUnsupported; Up never silently ignores part of a file. Keys that only concern
// the docker compose command line (develop, attach) are ignored.
package compose
