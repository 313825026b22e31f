// Command apitrace is a Docker API proxy that logs every request it forwards: when it
// started (relative to the first), how long the engine took to answer, method, path and
// status. Point a process at it with DOCKER_HOST to see which engine calls an
// implementation makes and where its time goes:
//
//	go run ./cmd/apitrace -listen trace.sock -upstream /var/run/docker.sock &
//	DOCKER_HOST=unix://$PWD/trace.sock go test -run '^$' -bench Start -benchtime 1x
//
// Streams (events, followed logs, attach) are forwarded as they come; their duration is
// the time to the response headers.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"os/signal"
	"sync"
	"time"
)

func main() {
	listen := flag.String("listen", "", "unix socket to listen on")
	upstream := flag.String("upstream", "/var/run/docker.sock", "the engine's unix socket")
	flag.Parse()
	log.SetFlags(0)
	if *listen == "" {
		log.Fatal("apitrace: -listen is required")
	}
	_ = os.Remove(*listen)
	ln, err := net.Listen("unix", *listen)
	if err != nil {
		log.Fatalf("apitrace: %v", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	var (
		mu    sync.Mutex
		first time.Time
	)
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.Out.URL.Scheme = "http"
			r.Out.URL.Host = "docker"
		},
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", *upstream)
			},
		},
		FlushInterval: -1,
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t0 := time.Now()
		mu.Lock()
		if first.IsZero() {
			first = t0
		}
		at := t0.Sub(first)
		mu.Unlock()
		sw := &statusWriter{ResponseWriter: w, t0: t0}
		rp.ServeHTTP(sw, r)
		if sw.headerAt.IsZero() {
			sw.headerAt = time.Now()
		}
		fmt.Printf("%10.1fms %8.1fms %3d %-6s %s\n", ms(at), ms(sw.headerAt.Sub(t0)), sw.status, r.Method, r.URL.RequestURI())
	})
	srv := &http.Server{Handler: h}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
		log.Fatalf("apitrace: %v", err)
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// statusWriter records the status and when the response headers went out.
type statusWriter struct {
	http.ResponseWriter
	t0       time.Time
	status   int
	headerAt time.Time
}

func (w *statusWriter) WriteHeader(code int) {
	if w.headerAt.IsZero() {
		w.status, w.headerAt = code, time.Now()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer (for hijacking
// connections that switch protocols).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
