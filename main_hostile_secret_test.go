package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	sopsage "github.com/getsops/sops/v3/age"
	"github.com/getsops/sops/v3/cmd/sops/formats"
	"github.com/sethvargo/go-githubactions"

	"github.com/tidegate/tidegate/cli"
	"github.com/tidegate/tidegate/internal/sopstest"
)

// TestHostileSecretGitHubChannels: decrypted values reach neither the
// step outputs, the step summary nor the error annotations, whether the
// run succeeds, fails on a tampered file or on a kustomize error that
// dumps the decrypted node.
func TestHostileSecretGitHubChannels(t *testing.T) {
	const canaryCM, canaryTyped, canaryDump = "canary-gh-configmap-Xe4", "canary-gh-typed-Mw7", "canary-gh-dump-Qa2"
	id := sopstest.NewAgeKey(t)
	mk, err := sopsage.MasterKeyFromRecipient(id.Recipient().String())
	if err != nil {
		t.Fatal(err)
	}
	enc := func(plain, regex string) string {
		return string(sopstest.Encrypt(t, mk, formats.Yaml, []byte(plain), regex))
	}
	repo := t.TempDir()
	for name, content := range map[string]string{
		"good/cm.yaml":            enc("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: sops-cm\n  namespace: x\ndata:\n  token: "+canaryCM+"\n", "^data$"),
		"typed/s.yaml":            strings.Replace(enc("apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  namespace: x\nstringData:\n  password: "+canaryTyped+"\n", "^stringData$"), "type:str]", "type:int]", 1),
		"dump/kustomization.yaml": "resources: [cm.yaml]\n",
		"dump/cm.yaml":            enc("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  labels:\n    team: "+canaryDump+"\n", ""),
	} {
		p := filepath.Join(repo, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	dir := t.TempDir()
	outputs, summary := filepath.Join(dir, "output"), filepath.Join(dir, "summary")
	for _, f := range []string{outputs, summary} {
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{"GITHUB_OUTPUT": outputs, "GITHUB_STEP_SUMMARY": summary, "SOPS_AGE_KEY": id.String()}
	var annotations, stdout, stderr bytes.Buffer
	a := githubactions.New(githubactions.WithWriter(&annotations), githubactions.WithGetenv(func(k string) string { return env[k] }))

	for _, path := range []string{"good", "typed", "dump"} {
		g := &cli.Globals{Output: "text", LogLevel: "debug", Stdout: &stdout, Stderr: &stderr,
			Getenv: func(k string) string { return env[k] }, Sinks: []cli.Sink{githubSink{a}}}
		err := (&cli.RenderCmd{SourceFlags: cli.SourceFlags{Source: repo, Path: []string{path}}}).Run(context.Background(), g)
		g.Finish("render", err)
		if (err == nil) != (path == "good") {
			t.Fatalf("render %s: err = %v", path, err)
		}
	}
	out, _ := os.ReadFile(outputs)
	sum, _ := os.ReadFile(summary)
	channels := map[string]string{"GITHUB_OUTPUT": string(out), "step summary": string(sum), "annotations": annotations.String(), "stderr": stderr.String(), "stdout": stdout.String()}
	if !strings.Contains(string(sum), "re-encrypt the file with sops") || !strings.Contains(annotations.String(), "missing metadata.name") {
		t.Fatalf("the failures did not reach GitHub; the check would prove nothing:\n%s\n%s", sum, annotations.String())
	}
	for name, text := range channels {
		for _, c := range []string{canaryCM, canaryTyped, canaryDump} {
			for _, form := range []string{c, base64.StdEncoding.EncodeToString([]byte(c))} {
				if strings.Contains(text, form) {
					t.Errorf("%s carries %s:\n%s", name, form, text)
				}
			}
		}
	}
}
