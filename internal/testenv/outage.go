package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// StopAPIServer kills kube-apiserver with SIGKILL, as a crash or a node
// failure would, while etcd keeps the data. It returns restart, which
// starts the same binary again with the same command line (certificates,
// port and etcd), and waits until it serves. Use it only on an Env the
// test started for itself: every other test sharing the server would
// fail meanwhile. Stop still cleans up after a restart.
func (e *Env) StopAPIServer() (restart func() error, err error) {
	pid, args, err := e.apiServerProcess()
	if err != nil {
		return nil, err
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return nil, fmt.Errorf("kill kube-apiserver %d: %w", pid, err)
	}
	host := e.hostPort()
	// The old process is gone once its port refuses connections.
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", host, 200*time.Millisecond)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("kube-apiserver %d still accepts connections on %s after SIGKILL", pid, host)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return func() error {
		cmd := exec.Command(args[0], args[1:]...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("restart kube-apiserver: %w", err)
		}
		e.restarted = append(e.restarted, cmd)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		for {
			// The server is back when it answers with the admin
			// credentials again, not only when its port is open.
			if _, err := e.client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx); err == nil {
				return nil
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("the restarted kube-apiserver is not ready after 2m: %w\n%s", ctx.Err(), out.String())
			case <-time.After(200 * time.Millisecond):
			}
		}
	}, nil
}

func (e *Env) hostPort() string {
	u, err := url.Parse(e.Config.Host)
	if err != nil || u.Host == "" {
		return e.Config.Host
	}
	return u.Host
}

// apiServerProcess finds this Env's kube-apiserver by its binary and
// secure port, and returns its pid and command line.
func (e *Env) apiServerProcess() (int, []string, error) {
	_, port, err := net.SplitHostPort(e.hostPort())
	if err != nil {
		return 0, nil, fmt.Errorf("the API server address %s has no port: %w", e.Config.Host, err)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		raw, err := os.ReadFile(p)
		if err != nil || len(raw) == 0 {
			continue
		}
		args := strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
		if filepath.Base(args[0]) != "kube-apiserver" {
			continue
		}
		for i, a := range args {
			if a == "--secure-port="+port || (a == "--secure-port" && i+1 < len(args) && args[i+1] == port) {
				var pid int
				if _, err := fmt.Sscanf(filepath.Base(filepath.Dir(p)), "%d", &pid); err != nil {
					return 0, nil, err
				}
				return pid, args, nil
			}
		}
	}
	return 0, nil, errors.New("no kube-apiserver process serves " + e.Config.Host + " (this needs Linux /proc)")
}
