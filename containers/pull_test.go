package containers

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestPullErrorKind(t *testing.T) {
	cases := []struct {
		msg  string
		want error
	}{
		{"Error response from daemon: manifest unknown", ErrImageNotFound},
		{"manifest for example.com/app:v9 not found: manifest unknown: manifest unknown", ErrImageNotFound},
		{"name unknown: repository name not known to registry", ErrImageNotFound},
		{"Error response from daemon: unauthorized", ErrPullUnauthorized},
		{"pull access denied for app, repository does not exist or may require 'docker login': denied: requested access to the resource is denied", ErrPullUnauthorized},
		{`Head "https://r.example.com/v2/app/manifests/v1": no basic auth credentials`, ErrPullUnauthorized},
		{"toomanyrequests: You have reached your pull rate limit.", ErrPullRateLimited},
		{`Get "http://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: connect: connection refused`, ErrRegistryUnreachable},
		{`Get "https://r.example.com/v2/": dial tcp: lookup r.example.com: no such host`, ErrRegistryUnreachable},
		{`Get "https://r.example.com/v2/": net/http: TLS handshake timeout`, ErrRegistryUnreachable},
		{"no matching manifest for linux/arm64 in the manifest list entries", nil},
	}
	for _, tc := range cases {
		assert.Equal(t, tc.want, pullErrorKind(errors.New(tc.msg)), tc.msg)
	}
}
