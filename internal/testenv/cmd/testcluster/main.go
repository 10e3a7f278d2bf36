// Command testcluster starts the same real kube-apiserver and etcd the
// tests use and keeps them up until interrupted, for the demo, the
// benchmarks and anyone trying tidegate by hand:
//
//	go run ./internal/testenv/cmd/testcluster --kubeconfig /tmp/tidegate-demo.kubeconfig
//	tidegate --kubeconfig /tmp/tidegate-demo.kubeconfig reconcile ...
//
// The cluster runs no controllers and no nodes: objects are stored and
// validated, but no pod ever runs.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/tidegate/tidegate/internal/testenv"
)

func main() {
	// A flag set of its own: controller-runtime, linked in through envtest,
	// registers --kubeconfig on the global one.
	fs := flag.NewFlagSet("testcluster", flag.ExitOnError)
	kubeconfig := fs.String("kubeconfig", "", "write the admin kubeconfig to this file (required)")
	ready := fs.String("ready-file", "", "touch this file once the API server is ready, for scripts that wait")
	_ = fs.Parse(os.Args[1:])
	if *kubeconfig == "" {
		fmt.Fprintln(os.Stderr, "testcluster: --kubeconfig FILE is required")
		os.Exit(64)
	}
	if err := run(*kubeconfig, *ready); err != nil {
		fmt.Fprintln(os.Stderr, "testcluster:", err)
		os.Exit(1)
	}
}

func run(kubeconfig, ready string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	env, err := testenv.Start()
	if err != nil {
		return err
	}
	defer env.Stop()
	if err := os.WriteFile(kubeconfig, env.Kubeconfig, 0o600); err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	fmt.Printf("kube-apiserver %s is up at %s\nkubeconfig written to %s:\n\n%s\nPress Ctrl-C to stop.\n",
		testenv.KubeVersion, env.Config.Host, kubeconfig, env.Kubeconfig)
	if ready != "" {
		if err := os.WriteFile(ready, nil, 0o644); err != nil {
			return fmt.Errorf("write ready file: %w", err)
		}
	}
	<-ctx.Done()
	fmt.Println("stopping")
	return nil
}
