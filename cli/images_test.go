package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tidegate/tidegate/images/registrytest"
)

// imagesRepo writes a repository tree whose ImageRepository points at
// host and returns its directory.
func imagesRepo(t *testing.T, host string) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"flux/policy.yaml": fmt.Sprintf(`apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImageRepository
metadata:
  name: app
  namespace: flux-system
spec:
  image: %s/team/app
---
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImagePolicy
metadata:
  name: app
  namespace: flux-system
spec:
  imageRepositoryRef:
    name: app
  policy:
    semver:
      range: ">=1.0.0 <2.0.0"
`, host),
		"apps/app.yaml": fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
  namespace: team
spec:
  template:
    spec:
      containers:
        - name: app
          image: %s/team/app:1.0.0 # {"$imagepolicy": "flux-system:app"}
        - name: elsewhere
          image: ghcr.io/acme/x:1 # {"$imagepolicy": "other:x"}
`, host),
	}
	for f, c := range files {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func dockerConfigDir(t *testing.T, host, user, pass string) string {
	t.Helper()
	dir := t.TempDir()
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
	cfg := fmt.Sprintf(`{"auths": {%q: {"auth": %q}}}`, host, auth)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func testGlobals(output string) (*Globals, *bytes.Buffer, *bytes.Buffer) {
	var out, errb bytes.Buffer
	return &Globals{Output: output, LogLevel: "warn", Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }}, &out, &errb
}

// TestImagesCommands drives list and update against Debian's
// docker-registry with htpasswd auth and a Docker config directory.
func TestImagesCommands(t *testing.T) {
	reg := registrytest.StartDistribution(t, "deployer", "correct-horse")
	auth := &authn.Basic{Username: reg.User, Password: reg.Pass}
	for i, tag := range []string{"0.9.0", "1.0.0", "1.2.0", "1.10.1", "2.0.0"} {
		registrytest.Push(t, reg.Host, auth, "team/app", time.Unix(int64(i), 0), tag)
	}
	dir := imagesRepo(t, reg.Host)
	app := filepath.Join(dir, "apps", "app.yaml")
	original, _ := os.ReadFile(app)
	flags := func() (SourceFlags, RegistryFlags) {
		return SourceFlags{Source: dir, Path: []string{"."}}, RegistryFlags{DockerConfig: dockerConfigDir(t, reg.Host, reg.User, reg.Pass)}
	}

	t.Run("list text", func(t *testing.T) {
		g, out, _ := testGlobals("text")
		s, r := flags()
		if err := (&ImagesListCmd{SourceFlags: s, RegistryFlags: r, Limit: 3}).Run(context.Background(), g); err != nil {
			t.Fatal(err)
		}
		t.Logf("tidegate images list:\n%s", out)
		for _, want := range []string{"Deployment/team/app", "flux-system:app", reg.Host + "/team/app", "update -> 1.10.1",
			"|   1.10.1 (selected)", "|   1.2.0", "'-> 1.0.0", "apps/app.yaml:11", "skipped"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("output lacks %q:\n%s", want, out.String())
			}
		}
	})

	t.Run("list json", func(t *testing.T) {
		g, out, _ := testGlobals("json")
		s, r := flags()
		if err := (&ImagesListCmd{SourceFlags: s, RegistryFlags: r, Limit: 2}).Run(context.Background(), g); err != nil {
			t.Fatal(err)
		}
		var got struct {
			Entries []struct {
				Object, Status, Latest string
				Tags                   []string
			} `json:"entries"`
			Warnings []string `json:"warnings"`
		}
		if err := json.Unmarshal(out.Bytes(), &got); err != nil {
			t.Fatalf("%v:\n%s", err, out.String())
		}
		if len(got.Entries) != 2 || got.Entries[0].Object != "Deployment/team/app" || got.Entries[0].Latest != "1.10.1" ||
			strings.Join(got.Entries[0].Tags, ",") != "1.10.1,1.2.0" || got.Entries[1].Status != "skipped" || len(got.Warnings) != 1 {
			t.Errorf("unexpected JSON:\n%s", out.String())
		}
	})

	t.Run("update dry run", func(t *testing.T) {
		g, out, _ := testGlobals("text")
		s, r := flags()
		err := (&ImagesUpdateCmd{SourceFlags: s, RegistryFlags: r, DryRun: true}).Run(context.Background(), g)
		if Code(err) != ExitChanges {
			t.Fatalf("exit code %d (%v), want %d", Code(err), err, ExitChanges)
		}
		want := "-          image: " + reg.Host + "/team/app:1.0.0 # {\"$imagepolicy\": \"flux-system:app\"}\n" +
			"+          image: " + reg.Host + "/team/app:1.10.1 # {\"$imagepolicy\": \"flux-system:app\"}\n"
		if !strings.Contains(out.String(), want) || !strings.Contains(out.String(), "--- a/apps/app.yaml") {
			t.Errorf("diff lacks %q:\n%s", want, out.String())
		}
		if now, _ := os.ReadFile(app); !bytes.Equal(now, original) {
			t.Errorf("dry run changed the file:\n%s", now)
		}
	})

	t.Run("update strict", func(t *testing.T) {
		g, _, _ := testGlobals("text")
		s, r := flags()
		r.Strict = true
		err := (&ImagesUpdateCmd{SourceFlags: s, RegistryFlags: r, DryRun: true}).Run(context.Background(), g)
		if Code(err) != ExitFailure || !strings.Contains(err.Error(), "other:x") {
			t.Fatalf("strict: exit %d, error %v; want failure naming other:x", Code(err), err)
		}
	})

	t.Run("wrong credentials", func(t *testing.T) {
		g, _, _ := testGlobals("text")
		s, r := flags()
		r.DockerConfig = dockerConfigDir(t, reg.Host, reg.User, "battery-staple")
		err := (&ImagesUpdateCmd{SourceFlags: s, RegistryFlags: r}).Run(context.Background(), g)
		if Code(err) != ExitFailure || !strings.Contains(err.Error(), "access denied") || !strings.Contains(err.Error(), reg.Host) {
			t.Fatalf("exit %d, error %v; want access denied naming %s", Code(err), err, reg.Host)
		}
		if strings.Contains(err.Error(), "battery-staple") {
			t.Fatalf("error leaks the password: %v", err)
		}
		if now, _ := os.ReadFile(app); !bytes.Equal(now, original) {
			t.Errorf("a failed scan changed the file:\n%s", now)
		}
	})

	t.Run("update", func(t *testing.T) {
		g, out, _ := testGlobals("text")
		s, r := flags()
		if err := (&ImagesUpdateCmd{SourceFlags: s, RegistryFlags: r}).Run(context.Background(), g); err != nil {
			t.Fatal(err)
		}
		want := strings.Replace(string(original), "app:1.0.0", "app:1.10.1", 1)
		if now, _ := os.ReadFile(app); string(now) != want {
			t.Errorf("apps/app.yaml:\n%s\nwant:\n%s", now, want)
		}
		for _, w := range []string{"apps/app.yaml:11", "Deployment/team/app", reg.Host + "/team/app:1.0.0 -> " + reg.Host + "/team/app:1.10.1", "1 image references updated in 1 files"} {
			if !strings.Contains(out.String(), w) {
				t.Errorf("output lacks %q:\n%s", w, out.String())
			}
		}

		// A second run has nothing to do.
		g, out, _ = testGlobals("json")
		if err := (&ImagesUpdateCmd{SourceFlags: s, RegistryFlags: r, DryRun: true}).Run(context.Background(), g); err != nil {
			t.Fatalf("second run: %v", err)
		}
		var got struct {
			Changes []any `json:"changes"`
		}
		if err := json.Unmarshal(out.Bytes(), &got); err != nil || len(got.Changes) != 0 {
			t.Errorf("second run: %v\n%s", err, out.String())
		}
	})
}

// An ImageRepository's secretRef that lives only in the cluster (as
// Flux users keep it) is read from there with --cluster-secrets.
func TestImagesClusterSecret(t *testing.T) {
	ns := env.Namespace(t)
	reg := registrytest.New(t, registrytest.WithBasicAuth("puller", "s3cret-pw"))
	registrytest.Push(t, reg.Host(), reg.Auth(), "team/api", time.Unix(1, 0), "1.0.0", "1.1.0")
	dir := t.TempDir()
	manifest := fmt.Sprintf(`apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImageRepository
metadata:
  name: api
  namespace: %[1]s
spec:
  image: %[2]s/team/api
  secretRef:
    name: regcred
---
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImagePolicy
metadata:
  name: api
  namespace: %[1]s
spec:
  imageRepositoryRef:
    name: api
  policy:
    semver:
      range: ">=1.0.0"
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: api
data:
  image: %[2]s/team/api:1.0.0 # {"$imagepolicy": "%[1]s:api"}
`, ns, reg.Host())
	if err := os.WriteFile(filepath.Join(dir, "api.yaml"), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`{"auths": {%q: {"auth": %q}}}`, reg.Host(), base64.StdEncoding.EncodeToString([]byte("puller:s3cret-pw")))
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "regcred", Namespace: ns}, Type: corev1.SecretTypeDockerConfigJson,
		Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte(cfg)}}
	if _, err := env.Client().CoreV1().Secrets(ns).Create(context.Background(), secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	run := func(clusterSecrets bool) (string, error) {
		g, _ := clusterGlobals(t, "text")
		var out bytes.Buffer
		g.Stdout = &out
		c := &ImagesUpdateCmd{DryRun: true}
		c.SourceFlags = SourceFlags{Source: dir, Path: []string{"."}}
		c.RegistryFlags = RegistryFlags{DockerConfig: t.TempDir(), InsecureRegistry: []string{reg.Host()}, Concurrency: 2, ClusterSecrets: clusterSecrets}
		err := c.Run(context.Background(), g)
		return out.String(), err
	}
	if _, err := run(false); Code(err) != ExitFailure {
		t.Fatalf("without --cluster-secrets: %v, want the registry to refuse", err)
	}
	out, err := run(true)
	if Code(err) != ExitChanges || !strings.Contains(out, "+  image: "+reg.Host()+"/team/api:1.1.0") {
		t.Fatalf("with --cluster-secrets: %v\n%s", err, out)
	}
	if strings.Contains(out, "s3cret-pw") {
		t.Error("the output holds the registry password")
	}
}
