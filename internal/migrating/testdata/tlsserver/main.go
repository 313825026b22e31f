// Command tlsserver is the server of the ForTLS row of MIGRATING.md: it serves HTTPS on
// :8443 with the certificate and key the test copies to /tls/cert.pem and /tls/key.pem.
package main

import (
	"log"
	"net/http"
)

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("secure\n")) })
	log.Print("serving TLS on :8443")
	log.Fatal(http.ListenAndServeTLS(":8443", "/tls/cert.pem", "/tls/key.pem", nil))
}
