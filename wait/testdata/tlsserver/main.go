// Command tlsserver serves, after DELAY_MS (default 300), HTTPS on :8443 with the
// certificate and key in the environment (CERT_PEM, KEY_PEM), and on :8080 a plain HTTP
// endpoint POST /login that wants basic auth admin:secret and the body "hello", and
// answers with the header X-Ready: yes.
package main

import (
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strconv"
	"time"
)

func main() {
	delay := 300 * time.Millisecond
	if n, err := strconv.Atoi(os.Getenv("DELAY_MS")); err == nil {
		delay = time.Duration(n) * time.Millisecond
	}
	time.Sleep(delay)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if u, p, ok := r.BasicAuth(); !ok || u != "admin" || p != "secret" {
			http.Error(w, "who are you", http.StatusUnauthorized)
			return
		}
		if string(body) != "hello" {
			http.Error(w, fmt.Sprintf("body %q", body), http.StatusBadRequest)
			return
		}
		w.Header().Set("X-Ready", "yes")
		fmt.Fprintln(w, "welcome")
	})
	go func() { log.Fatal(http.ListenAndServe(":8080", mux)) }()
	cert, err := tls.X509KeyPair([]byte(os.Getenv("CERT_PEM")), []byte(os.Getenv("KEY_PEM")))
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Addr: ":8443", Handler: mux, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}
	fmt.Println("serving")
	log.Fatal(srv.ListenAndServeTLS("", ""))
}
