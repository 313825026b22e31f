package migrating_test

// Each test is one row of MIGRATING.md, the containertest side of it. They compile on
// every run; they start containers only with CONTAINERTEST_MIGRATING=1 (and an
// engine), so that a run of the whole suite does not pay for the guide.

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"database/sql/driver"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	stdnet "net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containertest/containertest/compose"
	"github.com/containertest/containertest/containers"
	"github.com/containertest/containertest/internal/engine/docker/client"
	"github.com/containertest/containertest/internal/engine/docker/container"
	"github.com/containertest/containertest/internal/engine/docker/image"
	"github.com/containertest/containertest/internal/testimages"
	"github.com/containertest/containertest/network"
	"github.com/containertest/containertest/volume"
	"github.com/containertest/containertest/wait"
)

const busybox = "busybox:latest"

func row(t *testing.T) {
	t.Helper()
	if os.Getenv("CONTAINERTEST_MIGRATING") != "1" {
		t.Skip("a MIGRATING.md row: set CONTAINERTEST_MIGRATING=1 to run it")
	}
	containers.RequireDocker(t)
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// web is a busybox web server on 8080 that serves "hello".
func web() containers.Spec {
	return containers.Image(busybox).
		File("/www/index.html", []byte("hello\n"), 0o644).
		Cmd("httpd", "-f", "-p", "8080", "-h", "/www").
		Expose("8080/tcp")
}

// Row "Run / GenericContainer": start, use, removed at the end of the test.
func TestRowRun(t *testing.T) {
	row(t)
	c := containers.Image(busybox).
		File("/www/index.html", []byte("hello\n"), 0o644).
		Cmd("httpd", "-f", "-p", "8080", "-h", "/www").
		Env("MODE", "test").
		Label("team", "payments").
		Expose("8080/tcp").
		WaitFor(wait.ForHTTP("/index.html").Port("8080/tcp")).
		Start(t) // no defer: removed when t ends, diagnosed first when t failed
	if got := get(t, c.URL("http", "8080")+"/index.html"); got != "hello\n" {
		t.Fatalf("got %q", got)
	}
}

// Row "Run without a test" (testcontainers.Run(ctx, ...) in a TestMain or a program).
func TestRowRunContext(t *testing.T) {
	row(t)
	ctx := context.Background()
	c, err := web().Run(ctx)
	if err != nil {
		t.Fatal(err) // nothing is left behind on error
	}
	defer c.Terminate(ctx)
	_ = c.Endpoint("8080") // "127.0.0.1:49153"
}

// Row "Started: false, then Start".
func TestRowCreateThenStart(t *testing.T) {
	row(t)
	ctx := t.Context()
	net := network.New(t)
	c := web().Create(t)
	if err := c.CopyTo(ctx, "/www/late.html", []byte("late\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := c.Connect(ctx, net, "web"); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx); err != nil { // waits with the spec's strategies
		t.Fatal(err)
	}
	if got := get(t, c.URL("http", "8080")+"/late.html"); got != "late\n" {
		t.Fatalf("got %q", got)
	}
}

// Row "ports": WithExposedPorts, MappedPort, Host, PortEndpoint.
func TestRowPorts(t *testing.T) {
	row(t)
	c := web().Expose("9000/udp").WaitFor(wait.ForPort("8080/tcp")).Start(t)
	port := c.MappedPort("8080")   // int, panics on a port never exposed
	_, err := c.LookupPort("9999") // an error naming the exposed ports
	host := c.Host()               // "127.0.0.1"
	endpoint := c.Endpoint("8080") // "127.0.0.1:49153"
	url := c.URL("http", "8080")   // "http://127.0.0.1:49153"
	if port == 0 || err == nil || host == "" || !strings.HasSuffix(url, endpoint) {
		t.Fatal(port, err, host, endpoint, url)
	}
}

// Row "request options": Cmd, Entrypoint, Env, Labels, Name, User, WorkingDir,
// Tmpfs, Privileged, CapAdd, resources, config and host-config modifiers.
func TestRowOptions(t *testing.T) {
	row(t)
	c := containers.Image(busybox).
		Entrypoint("sh", "-c").
		Cmd("echo started; exec sleep 600").
		Env("A", "1").
		Label("k", "v").
		User("nobody").
		WorkDir("/tmp").
		Tmpfs("/scratch", containers.TmpfsSize(16<<20)).
		Memory(64<<20).
		CPUs(0.5).
		CapDrop("NET_RAW").
		Hostname("svc").
		ExtraHost("host.docker.internal", "host-gateway").
		Modify(func(cfg *container.Config, hc *container.HostConfig) {
			cfg.Labels["modified"] = "yes" // the escape hatch
		}).
		WaitFor(wait.ForLog("started")).
		Start(t)
	info, err := c.Inspect(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if info.Labels["modified"] != "yes" || info.Labels["k"] != "v" {
		t.Fatal(info.Labels)
	}
}

// Row "files": Files (ContainerFile), CopyToContainer, CopyFileFromContainer.
func TestRowFiles(t *testing.T) {
	row(t)
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/seed.sql", []byte("select 1;\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := containers.Image(busybox).Cmd("sleep", "600").
		File("/etc/app.conf", []byte("debug=true\n"), 0o600). // before start
		CopyDir(dir, "/docker-entrypoint-initdb.d").          // before start
		WaitFor().
		Start(t)
	ctx := t.Context()
	if err := c.CopyTo(ctx, "/tmp/later.txt", []byte("x"), 0o644); err != nil { // running
		t.Fatal(err)
	}
	b, err := c.CopyFrom(ctx, "/docker-entrypoint-initdb.d/seed.sql")
	if err != nil || string(b) != "select 1;\n" {
		t.Fatal(string(b), err)
	}
}

// Row "mounts": bind mounts, volumes, tmpfs.
func TestRowMounts(t *testing.T) {
	row(t)
	vol := volume.New(t) // removed after the test's containers
	c := containers.Image(busybox).Cmd("sleep", "600").
		Mount(vol, "/data").
		Bind(t.TempDir(), "/host", containers.ReadOnlyMount()).
		WaitFor().
		Start(t) // writes to a named volume: stopped gracefully at teardown
	if _, err := c.Exec(t.Context(), "touch", "/data/x"); err != nil {
		t.Fatal(err)
	}
}

// Row "FromDockerfile": build args, target, the image kept as a cache.
func TestRowBuild(t *testing.T) {
	row(t)
	c := containers.Build("testdata/app").
		Dockerfile("Dockerfile").
		BuildArg("GREETING", "built").
		Expose("8080").
		Start(t)
	if got := get(t, c.URL("http", "8080")+"/index.html"); got != "built\n" {
		t.Fatalf("got %q", got)
	}
}

// Row "pull policy": AlwaysPullImage.
func TestRowPullPolicy(t *testing.T) {
	row(t)
	// PullAlways would need a registry; PullNever fails at once on a missing image.
	_, err := containers.Image("containertest/no-such-image:1").Pull(containers.PullNever).Run(t.Context())
	if !errors.Is(err, containers.ErrImageNotFound) {
		t.Fatal(err)
	}
}

// Row "wait strategies".
func TestRowWaits(t *testing.T) {
	row(t)
	c := containers.Image(busybox).
		Cmd("sh", "-c", "echo booting; mkdir /www; echo ok > /www/health; echo ready; echo ready; exec httpd -f -p 8080 -h /www").
		Expose("8080").
		HealthCheck(containers.Health{Test: []string{"CMD-SHELL", "wget -qO- localhost:8080/health"}, Interval: time.Second}).
		WaitFor(
			wait.ForPort("8080/tcp"),       // ForListeningPort / ForExposedPort
			wait.ForLog("ready").Times(2),  // ForLog(...).WithOccurrence(2)
			wait.ForLogRegexp(`^boot\w+$`), // ForLog(...).AsRegexp()
			wait.ForHTTP("/health").Port("8080").Status(200).Body("ok").Timeout(30*time.Second),
			wait.ForHealthy(),                         // ForHealthCheck
			wait.ForExec("test", "-f", "/www/health"), // ForExec, and ForFile
		).
		StartTimeout(time.Minute). // WithStartupTimeout / WithDeadline
		Start(t)
	_ = c
}

// Row "wait.ForExit" (a one-shot container) and "wait.ForAny".
func TestRowWaitExitAny(t *testing.T) {
	row(t)
	containers.Image(busybox).Cmd("true").WaitFor(wait.ForExit(0)).Start(t)
	containers.Image(busybox).Cmd("sh", "-c", "echo b; sleep 600").
		WaitFor(wait.Any(wait.ForLog("a"), wait.ForLog("b"))).Start(t)
}

// Row "wait.ForSQL": a query through the database/sql driver the test imports. The
// driver here ("tcpcheck", below) stands in for pgx or go-sql-driver/mysql: it connects
// to the port and answers every query with no rows.
func TestRowWaitSQL(t *testing.T) {
	row(t)
	forSQL := wait.ForSQL("tcpcheck", "8080/tcp", func(hostPort string) string {
		return "tcp://" + hostPort // "postgres://postgres:secret@" + hostPort + "/postgres?sslmode=disable"
	}).Query("SELECT 1").Timeout(30 * time.Second)
	web().WaitFor(forSQL).Start(t)
}

// Row "lifecycle hooks and startup commands".
func TestRowHooksAndCommands(t *testing.T) {
	row(t)
	var readyAt time.Time
	c := containers.Image(busybox).Cmd("sleep", "600").WaitFor().
		AfterStart("mkdir", "-p", "/var/lib/app").                 // WithStartupCommand
		AfterReady("sh", "-c", "echo seeded > /var/lib/app/seed"). // WithAfterReadyCommand
		Hooks(containers.Hooks{                                    // WithLifecycleHooks
			AfterReady: func(ctx context.Context, c *containers.Container) error {
				readyAt = time.Now()
				return nil
			},
			BeforeTerminate: func(ctx context.Context, c *containers.Container) error {
				logs, _ := c.LogTail(ctx, 20)
				_ = logs
				return nil
			},
		}).
		Start(t)
	if readyAt.IsZero() {
		t.Fatal("AfterReady hook did not run")
	}
	b, err := c.CopyFrom(t.Context(), "/var/lib/app/seed")
	if err != nil || string(b) != "seeded\n" {
		t.Fatal(string(b), err)
	}
}

// Row "Exec".
func TestRowExec(t *testing.T) {
	row(t)
	c := containers.Image(busybox).Cmd("sleep", "600").WaitFor().Start(t)
	res, err := c.ExecWith(t.Context(), containers.ExecOptions{Env: []string{"X=1"}, WorkDir: "/tmp"},
		"sh", "-c", "echo out $X; echo err >&2; exit 2")
	if err != nil { // a non-zero exit is not an error
		t.Fatal(err)
	}
	if res.ExitCode != 2 || res.Stdout != "out 1\n" || res.Stderr != "err\n" {
		t.Fatalf("%+v", res)
	}
}

// Row "logs and log consumers".
func TestRowLogs(t *testing.T) {
	row(t)
	c := containers.Image(busybox).Cmd("sh", "-c", "echo one; echo two; sleep 600").
		LogTo(t.Output()). // WithLogConsumers(...): every line, across restarts
		WaitFor(wait.ForLog("two")).
		Start(t)
	ctx := t.Context()
	all, err := c.Logs(ctx) // Logs(ctx): everything so far
	if err != nil || all != "one\ntwo\n" {
		t.Fatalf("%q %v", all, err)
	}
	fctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	rc, err := c.FollowLogs(fctx) // a stream that follows the current run
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	_, _ = io.Copy(io.Discard, rc)
}

// Row "state, stop, start, terminate".
func TestRowStateStopTerminate(t *testing.T) {
	row(t)
	ctx := t.Context()
	c := web().Start(t)
	if info, err := c.Inspect(ctx); err != nil || !info.Running { // State(ctx).Running, IsRunning()
		t.Fatalf("not running: %+v, %v", info, err)
	}
	if err := c.Stop(ctx, 2*time.Second); err != nil { // Stop(ctx, &timeout)
		t.Fatal(err)
	}
	if err := c.Start(ctx); err != nil { // ports may change: ask MappedPort again
		t.Fatal(err)
	}
	if err := c.Terminate(ctx); err != nil { // optional: Start(t) removes at the end
		t.Fatal(err)
	}
}

// Row "networks": network.New, WithNetwork(aliases, net), ContainerIP.
func TestRowNetworks(t *testing.T) {
	row(t)
	net := network.New(t, network.Subnet("10.231.7.0/24"))
	db := web().On(net, "db").Start(t)
	client := containers.Image(busybox).Cmd("sleep", "600").On(net).WaitFor().Start(t)
	res, err := client.Exec(t.Context(), "wget", "-qO-", "http://db:8080/index.html")
	if err != nil || res.ExitCode != 0 || res.Stdout != "hello\n" {
		t.Fatalf("%+v %v", res, err)
	}
	ip, err := db.IP(t.Context(), net)
	if err != nil || !strings.HasPrefix(ip, "10.231.7.") {
		t.Fatal(ip, err)
	}
}

// Row "several containers": ParallelContainers, and a stack with dependencies.
func TestRowStartAll(t *testing.T) {
	row(t)
	net := network.New(t)
	all := containers.StartAll(t, // all ready, or the test fails with nothing left
		web().On(net, "api").DependsOn("db"),
		containers.Image(busybox).Cmd("sleep", "600").On(net, "db").WaitFor(),
	)
	api, db := all[0], all[1]
	_, _ = api, db
}

// Row "compose".
func TestRowCompose(t *testing.T) {
	row(t)
	stack := compose.File("testdata/compose.yaml").
		WaitFor("web", wait.ForHTTP("/index.html").Port("8080")).
		Up(t) // removed when the test ends, with its networks and volumes
	if got := get(t, stack.Service("web").URL("http", "8080")+"/index.html"); got != "hello\n" {
		t.Fatalf("got %q", got)
	}
}

// Row "logger": testcontainers.WithLogger / log.TestLogger(t).
func TestRowLogger(t *testing.T) {
	row(t)
	web().Logger(containers.LoggerFunc(func(format string, args ...any) {
		t.Logf("[framework] "+format, args...)
	})).Start(t)
}

// Row "skip without Docker": SkipIfProviderIsNotHealthy.
func TestRowSkip(t *testing.T) {
	row(t)
	if !containers.HasDocker() { // Start(t) skips by itself; CI sets CONTAINERTEST_REQUIRE_DOCKER=1
		t.Skip("no engine")
	}
}

// tcpcheck is a database/sql driver for TestRowWaitSQL: Open connects to the address in
// "tcp://host:port", and every query returns no rows.
type tcpcheck struct{}

func init() { sql.Register("tcpcheck", tcpcheck{}) }

func (tcpcheck) Open(dsn string) (driver.Conn, error) {
	c, err := stdnet.DialTimeout("tcp", strings.TrimPrefix(dsn, "tcp://"), 5*time.Second)
	if err != nil {
		return nil, err
	}
	return tcpConn{c}, nil
}

type tcpConn struct{ c stdnet.Conn }

func (c tcpConn) Prepare(string) (driver.Stmt, error) { return tcpStmt{}, nil }
func (c tcpConn) Close() error                        { return c.c.Close() }
func (c tcpConn) Begin() (driver.Tx, error)           { return nil, errors.New("tcpcheck: no transactions") }

type tcpStmt struct{}

func (tcpStmt) Close() error                               { return nil }
func (tcpStmt) NumInput() int                              { return 0 }
func (tcpStmt) Exec([]driver.Value) (driver.Result, error) { return driver.RowsAffected(0), nil }
func (tcpStmt) Query([]driver.Value) (driver.Rows, error)  { return noRows{}, nil }

type noRows struct{}

func (noRows) Columns() []string         { return []string{"1"} }
func (noRows) Close() error              { return nil }
func (noRows) Next([]driver.Value) error { return io.EOF }

// Row "CmdArgs / EntrypointArgs": WithCmdArgs, WithEntrypointArgs append to the image's.
func TestRowCmdArgs(t *testing.T) {
	row(t)
	// busybox's CMD is ["sh"]: this runs sh -c '...'.
	containers.Image(busybox).CmdArgs("-c", "echo appended; exec sleep 600").
		WaitFor(wait.ForLog("appended")).Start(t)
	// the built image's CMD is httpd -f -p 8080 -h /www: this adds -v (verbose).
	c := containers.Build("testdata/app").BuildArg("GREETING", "built").CmdArgs("-v").Expose("8080").Start(t)
	if got := get(t, c.URL("http", "8080")+"/index.html"); got != "built\n" {
		t.Fatalf("got %q", got)
	}
	// EntrypointArgs appends to the entrypoint and keeps the image's CMD.
	containers.Image(busybox).Entrypoint("sh").EntrypointArgs("-c", "echo entry; exec sleep 600").
		WaitFor(wait.ForLog("entry")).Start(t)
}

// Row "HTTP wait: request body, basic auth, response headers, a client".
func TestRowWaitHTTPMore(t *testing.T) {
	row(t)
	cgi := "#!/bin/sh\n" +
		"body=$(head -c \"${CONTENT_LENGTH:-0}\")\n" +
		"printf 'Content-Type: text/plain\\r\\nX-Ready: yes\\r\\n\\r\\n'\n" +
		"echo \"got $body\"\n"
	client := &http.Client{Timeout: 5 * time.Second} // the test's own client
	containers.Image(busybox).
		File("/www/cgi-bin/ready", []byte(cgi), 0o755).
		File("/etc/httpd.conf", []byte("/cgi-bin:admin:secret\n"), 0o644).
		Cmd("httpd", "-f", "-p", "8080", "-h", "/www", "-c", "/etc/httpd.conf").
		Expose("8080").
		WaitFor(wait.ForHTTP("/cgi-bin/ready").Port("8080").
			Method("POST").Header("Content-Type", "text/plain").
			RequestBody([]byte("ping")).      // WithBody
			BasicAuth("admin", "secret").     // WithBasicAuth
			ResponseHeader("X-Ready", "yes"). // WithResponseHeadersMatcher
			Client(client).                   // WithClient / a custom transport
			Status(200).Body("got ping")).
		Start(t)
}

// Row "wait.ForTLSCert": the served certificate verifies for 127.0.0.1.
func TestRowWaitTLS(t *testing.T) {
	row(t)
	certPEM, keyPEM, pool := selfSigned(t)
	containers.Image(testimages.GoProgram(t, "testdata/tlsserver")).
		File("/tls/cert.pem", certPEM, 0o644).
		File("/tls/key.pem", keyPEM, 0o644).
		Expose("8443").
		WaitFor(wait.ForTLS("8443").RootCAs(pool)). // ForTLSCert(cert, key).WithPort("8443")
		Start(t)
}

// selfSigned makes a certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(t *testing.T) (certPEM, keyPEM []byte, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "migrating"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []stdnet.IP{stdnet.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), pool
}

// Row "a log wait that reads the log": submatches to a callback, Permanent.
func TestRowWaitLogSubmatch(t *testing.T) {
	row(t)
	var password string
	containers.Image(busybox).Cmd("sh", "-c", "echo 'generated password: s3cret'; exec sleep 600").
		WaitFor(wait.ForLogRegexp(`generated password: (\w+)`).OnMatch(func(m []string) error {
			if m[1] == "" {
				return wait.Permanent(errors.New("empty password")) // ends the wait at once
			}
			password = m[1]
			return nil
		})).
		Start(t)
	if password != "s3cret" {
		t.Fatalf("password %q", password)
	}
}

// Row "a wait for an unpublished port": a server only other containers reach.
func TestRowWaitUnpublished(t *testing.T) {
	row(t)
	nw := network.New(t)
	containers.Image(busybox).
		File("/www/index.html", []byte("hello\n"), 0o644).
		Cmd("httpd", "-f", "-p", "8080", "-h", "/www").
		On(nw, "internal-web"). // nothing exposed, nothing published
		WaitFor(wait.ForPort("8080").Unpublished()).
		Start(t)
}

// Row "static IPs and IPAM options": network.WithIPAM, IPv4Address.
func TestRowStaticIP(t *testing.T) {
	row(t)
	nw := network.New(t,
		network.Subnet("10.231.9.0/24"),
		network.Gateway("10.231.9.254"),
		network.IPRange("10.231.9.128/25"), // the engine assigns from here; the rest is for IP
	)
	c := containers.Image(busybox).Cmd("sleep", "600").IP(nw, "10.231.9.5").WaitFor().Start(t)
	ip, err := c.IP(t.Context(), nw)
	if err != nil || ip != "10.231.9.5" {
		t.Fatal(ip, err)
	}
}

// Row "host access": HostAccessPorts.
func TestRowHostAccess(t *testing.T) {
	row(t)
	ctx := t.Context()
	nw := network.New(t)
	info, err := nw.Inspect(ctx)
	if err != nil || len(info.Gateways) == 0 {
		t.Fatal(info, err)
	}
	// A server of the test, listening on the host's address on the test's network.
	ln, err := stdnet.Listen("tcp", stdnet.JoinHostPort(info.Gateways[0].String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "from the host\n")
	}))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	_, port, _ := stdnet.SplitHostPort(ln.Addr().String())
	c := containers.Image(busybox).Cmd("sleep", "600").On(nw).HostAccess().WaitFor().Start(t)
	res, err := c.Exec(ctx, "wget", "-qO-", "http://"+containers.HostName+":"+port+"/")
	if err != nil || res.ExitCode != 0 || res.Stdout != "from the host\n" {
		t.Fatalf("%+v %v", res, err)
	}
}

// Row "reuse": Reuse: true with a Name, WithReuseByName.
func TestRowReuse(t *testing.T) {
	row(t)
	spec := web().Label("row", "reuse").Reuse() // no Named: the name comes from the configuration
	a := spec.Start(t)
	b := spec.Start(t) // the same container, unless CONTAINERTEST_REUSE=off
	if os.Getenv("CONTAINERTEST_REUSE") != "off" && a.ID() != b.ID() {
		t.Fatal("not reused", a.ID(), b.ID())
	}
	// Reused containers outlive the process; this row removes its own.
	t.Cleanup(func() { _ = a.Terminate(context.Background()); _ = b.Terminate(context.Background()) })
	if _, err := web().Named("fixed").Reuse().Run(t.Context()); !errors.Is(err, containers.ErrNotReusable) {
		t.Fatal(err)
	}
}

// Row "pools": no counterpart; the next container starts while the test runs.
func TestRowPool(t *testing.T) {
	row(t)
	pool := containers.NewPool(web(), 1).CloseWith(t)
	for i := range 2 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			c := pool.Get(t) // fresh and ready; removed when the subtest ends
			if got := get(t, c.URL("http", "8080")+"/index.html"); got != "hello\n" {
				t.Fatalf("got %q", got)
			}
		})
	}
}

// Row "log consumers with their stream": Log.LogType.
func TestRowLogConsumer(t *testing.T) {
	row(t)
	var mu sync.Mutex
	var lines []containers.LogLine
	c := containers.Image(busybox).Cmd("sh", "-c", "echo out; echo err >&2; exec sleep 600").
		LogConsumer(func(l containers.LogLine) { // WithLogConsumers(consumer)
			mu.Lock()
			defer mu.Unlock()
			lines = append(lines, l)
		}).
		WaitFor(wait.ForLog("err")).
		Start(t)
	if err := c.Terminate(t.Context()); err != nil { // every line has reached the consumer
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := map[string]containers.LogStream{"out": containers.Stdout, "err": containers.Stderr}
	for _, l := range lines {
		if want[l.Text] != l.Stream {
			t.Fatalf("%+v", lines)
		}
		delete(want, l.Text)
	}
	if len(want) != 0 {
		t.Fatalf("missing %v in %+v", want, lines)
	}
}

// Row "copying a directory into a running container": CopyDirToContainer.
func TestRowCopyDirTo(t *testing.T) {
	row(t)
	dir := t.TempDir()
	if err := os.MkdirAll(dir+"/sub", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir+"/sub/a.txt", []byte("a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := containers.Image(busybox).Cmd("sleep", "600").WaitFor().Start(t)
	ctx := t.Context()
	if err := c.CopyDirTo(ctx, dir, "/srv/data"); err != nil { // the contents of dir become /srv/data
		t.Fatal(err)
	}
	b, err := c.CopyFrom(ctx, "/srv/data/sub/a.txt")
	if err != nil || string(b) != "a\n" {
		t.Fatal(string(b), err)
	}
}

// Row "image platform": ImagePlatform.
func TestRowImagePlatform(t *testing.T) {
	row(t)
	containers.Image(busybox).Platform("linux/" + runtime.GOARCH).Cmd("true").WaitFor(wait.ForExit(0)).Start(t)
	other := "linux/s390x"
	if runtime.GOARCH == "s390x" {
		other = "linux/amd64"
	}
	// The local image is of another platform: an error, not a container of the wrong one.
	_, err := containers.Image(busybox).Platform(other).Pull(containers.PullNever).Cmd("true").Run(t.Context())
	if !errors.Is(err, containers.ErrPlatformMismatch) {
		t.Fatal(err)
	}
}

// Row "builds: a name, an in-memory context, the output, secrets": FromDockerfile.Repo
// and Tag, ContextArchive, BuildLogWriter, BuildOptionsModifier for secrets.
func TestRowBuildMore(t *testing.T) {
	row(t)
	dockerfile := "FROM busybox:latest\n" +
		"RUN --mount=type=secret,id=token test \"$(cat /run/secrets/token)\" = s3cret\n" +
		"CMD [\"sh\", \"-c\", \"echo from the tar; exec sleep 600\"]\n"
	var tarball bytes.Buffer
	tw := tar.NewWriter(&tarball)
	if err := tw.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(dockerfile))}); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(tw, dockerfile); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	out := &lockedBuffer{}
	const tag = "containertest-migrating/app:dev"
	spec := containers.BuildTar("migrating-tar", tarball.Bytes()) // ContextArchive
	spec = spec.BuildSecret("token", "s3cret")                    // a RUN --mount=type=secret step
	spec = spec.BuildTag(tag)                                     // FromDockerfile.Repo + Tag
	spec = spec.BuildOutput(out)                                  // BuildLogWriter / PrintBuildLog
	spec.WaitFor(wait.ForLog("from the tar")).Start(t)
	t.Cleanup(func() { removeTag(t, tag) })
	if out.String() == "" {
		t.Fatal("no build output")
	}
	// The tag is a plain image name now.
	containers.Image(tag).Pull(containers.PullNever).WaitFor(wait.ForLog("from the tar")).Start(t)
}

// lockedBuffer is a bytes.Buffer safe for a writer and a reader in other goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// removeTag removes the tag a row gave an image (the image stays under its cache tag).
func removeTag(t *testing.T, ref string) {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Error(err)
		return
	}
	defer cli.Close()
	if _, err := cli.ImageRemove(context.Background(), ref, image.RemoveOptions{}); err != nil {
		t.Error(err)
	}
}

// Row "image-name substitution": WithImageSubstitutors, TESTCONTAINERS_HUB_IMAGE_NAME_PREFIX.
func TestRowSubstituteImage(t *testing.T) {
	row(t)
	containers.Image("docker.io/example/app:1").
		SubstituteImage(func(ref string) (string, error) { return busybox, nil }). // any reference
		Cmd("true").WaitFor(wait.ForExit(0)).Start(t)

	t.Setenv("CONTAINERTEST_IMAGE_PREFIX", "localhost/mirror") // Docker Hub references only
	_, err := containers.Image(busybox).Pull(containers.PullNever).Run(t.Context())
	if !errors.Is(err, containers.ErrImageNotFound) || !strings.Contains(err.Error(), "localhost/mirror/library/busybox:latest") {
		t.Fatal(err)
	}
}

// Row "read-only named volumes and image mounts": VolumeMount(...).ReadOnly, ImageMount.
func TestRowMountReadOnlyAndImage(t *testing.T) {
	row(t)
	vol := volume.New(t)
	c := containers.Image(busybox).Cmd("sleep", "600").
		Mount(vol, "/data", containers.ReadOnlyMount()).
		WaitFor().Start(t)
	res, err := c.Exec(t.Context(), "touch", "/data/x")
	if err != nil || res.ExitCode == 0 {
		t.Fatalf("%+v %v", res, err)
	}
	// An image's filesystem as a read-only mount needs API 1.48 (Docker 28).
	_, err = containers.Image(busybox).Cmd("ls", "/tools/bin/busybox").
		MountImage(busybox, "/tools").WaitFor(wait.ForExit(0)).Run(t.Context())
	if err != nil && !errors.Is(err, containers.ErrUnsupportedByEngine) {
		t.Fatal(err)
	}
}
