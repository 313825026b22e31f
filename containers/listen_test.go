package containers

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestListensOn(t *testing.T) {
	table := []byte(`  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0
   1: 0100007F:0050 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0000000000000000 20 4 30 10 -1
`)
	assert.True(t, listensOn(table, 8080), "0x1F90 in state 0A listens")
	assert.False(t, listensOn(table, 80), "port 80 is an established connection, not a listener")
	assert.False(t, listensOn(table, 5432))
	assert.False(t, listensOn(nil, 8080))
}
