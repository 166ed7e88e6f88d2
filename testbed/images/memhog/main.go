// memhog stands in for a feature's main daemon (installed in the test image as e.g. /usr/bin/openbmpd).
// It keeps exactly the number of MiB named in the control file resident (touched anonymous memory),
// so tests can move a container's working set up and down and observe limits and OOM kills.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	control := os.Getenv("MEMHOG_CONTROL")
	if len(os.Args) > 1 {
		control = os.Args[1]
	}
	start, _ := strconv.Atoi(os.Getenv("MEMHOG_MIB"))
	var chunks [][]byte
	resize := func(mib int) {
		if len(chunks) > mib {
			for i := mib; i < len(chunks); i++ {
				chunks[i] = nil
			}
			chunks = chunks[:mib]
			// Give the pages back now, so the cgroup's working set drops as the test expects.
			debug.FreeOSMemory()
		}
		for len(chunks) < mib {
			c := make([]byte, 1<<20)
			for i := 0; i < len(c); i += 4096 {
				c[i] = 1
			}
			chunks = append(chunks, c)
		}
	}
	resize(start)
	fmt.Printf("memhog: holding %d MiB, control=%q\n", len(chunks), control)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	tick := time.NewTicker(200 * time.Millisecond)
	last := -1
	for {
		select {
		case <-sigs:
			os.Exit(0)
		case <-tick.C:
			if control == "" {
				continue
			}
			b, err := os.ReadFile(control)
			if err != nil {
				continue
			}
			mib, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil || mib < 0 || mib == last {
				continue
			}
			last = mib
			resize(mib)
			fmt.Printf("memhog: holding %d MiB\n", len(chunks))
		}
	}
}
