// Command tlsproxy puts this machine's engine behind mutual TLS on a loopback port, as
// a remote dockerd started with --tlsverify serves it, for the CI stage that runs the
// suites against a TLS engine.
//
//	tlsproxy -certs DIR [-listen 127.0.0.1:0] [-upstream /var/run/docker.sock] [-addr-file FILE]
//
// It writes a fresh CA with server and client certificates into DIR (use it as
// DOCKER_CERT_PATH), listens, writes "tcp://HOST:PORT" to the address file (or stdout)
// once it accepts, and serves until SIGINT or SIGTERM.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/containertest/containertest/internal/enginetest"
)

func main() {
	certs := flag.String("certs", "", "directory for ca.pem, cert.pem, key.pem (client) and server.pem, server-key.pem")
	listen := flag.String("listen", "127.0.0.1:0", "loopback address to listen on")
	upstream := flag.String("upstream", "/var/run/docker.sock", "the engine's unix socket")
	addrFile := flag.String("addr-file", "", "file to write the engine address to (default: stdout)")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("tlsproxy: ")
	if *certs == "" {
		log.Fatal("-certs is required")
	}
	if err := os.MkdirAll(*certs, 0o700); err != nil {
		log.Fatal(err)
	}
	p, err := enginetest.NewPKI(*certs, "containertest CI CA")
	if err != nil {
		log.Fatal(err)
	}
	l, err := enginetest.Listen(*listen)
	if err != nil {
		log.Fatal(err)
	}
	proxy := enginetest.NewTLSProxy(l, enginetest.ServerConfig(p.Server, p.Pool), *upstream)
	proxy.Log = log.Printf
	addr := "tcp://" + l.Addr().String() + "\n"
	if *addrFile != "" {
		tmp := *addrFile + ".tmp"
		if err := os.WriteFile(tmp, []byte(addr), 0o600); err != nil {
			log.Fatal(err)
		}
		if err := os.Rename(tmp, *addrFile); err != nil {
			log.Fatal(err)
		}
	} else {
		fmt.Print(addr)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sig
		proxy.Close()
	}()
	if err := proxy.Serve(); err != nil {
		log.Fatal(err)
	}
}
