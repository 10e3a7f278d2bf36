package registrytest

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// DistributionBinary is where Debian's docker-registry package installs
// the CNCF distribution registry.
const DistributionBinary = "/usr/bin/docker-registry"

// Distribution is a running docker-registry process.
type Distribution struct {
	Host       string // 127.0.0.1:port
	User, Pass string
}

// StartDistribution runs docker-registry on a free loopback port with
// htpasswd authentication for user/pass and filesystem
// storage in a temporary directory. It skips the test when the binary is
// absent (hack/ci-deps.sh installs it).
func StartDistribution(tb testing.TB, user, pass string) *Distribution {
	tb.Helper()
	if _, err := os.Stat(DistributionBinary); err != nil {
		tb.Skipf("%s not installed (apt-get install docker-registry, see hack/ci-deps.sh): %v", DistributionBinary, err)
	}
	dir := tb.TempDir()
	hash, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.MinCost)
	if err != nil {
		tb.Fatal(err)
	}
	htpasswd := filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(htpasswd, []byte(user+":"+string(hash)+"\n"), 0o600); err != nil {
		tb.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cfg := fmt.Sprintf(`version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: %s
http:
  addr: %s
auth:
  htpasswd:
    realm: tidegate-test
    path: %s
`, filepath.Join(dir, "data"), addr, htpasswd)
	cfgFile := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		tb.Fatal(err)
	}
	var logs bytes.Buffer
	cmd := exec.Command(DistributionBinary, "serve", cfgFile)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start %s: %v", DistributionBinary, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusUnauthorized {
				break
			}
		}
		select {
		case <-done:
			tb.Fatalf("docker-registry exited: %s", logs.String())
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("docker-registry did not answer on %s: %v\n%s", addr, err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return &Distribution{Host: addr, User: user, Pass: pass}
}
