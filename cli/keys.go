package cli

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/tidegate/tidegate/render"
)

// KeyFlags gather the private keys that decrypt SOPS files. tidegate uses
// only these, so a render decrypts the same files wherever it runs.
type KeyFlags struct {
	AgeKeyFile []string `help:"age identity file (AGE-SECRET-KEY-1… lines) for SOPS files. Repeatable. SOPS_AGE_KEY (the key text) and SOPS_AGE_KEY_FILE are read too." env:"TIDEGATE_AGE_KEY_FILE" type:"path" sep:"," placeholder:"FILE"`
	PGPKeyFile []string `help:"ASCII-armored PGP private key for SOPS files (needs gpg). Repeatable." env:"TIDEGATE_PGP_KEY_FILE" type:"path" sep:"," placeholder:"FILE"`
	SOPSSecret []string `name:"sops-secret" help:"Kubernetes Secret NAMESPACE/NAME whose *.agekey entries hold age keys and *.asc entries PGP keys, like Flux's sops-age Secret (in-cluster runs). Repeatable." env:"TIDEGATE_SOPS_SECRET" sep:"," placeholder:"NS/NAME"`
}

// Keys reads every key given by flags and environment.
func (k *KeyFlags) Keys(ctx context.Context, g *Globals) (render.Keys, error) {
	var keys render.Keys
	if v := g.getenv("SOPS_AGE_KEY"); v != "" {
		keys.Age = append(keys.Age, v)
	}
	files := append([]string(nil), k.AgeKeyFile...)
	if f := g.getenv("SOPS_AGE_KEY_FILE"); f != "" {
		files = append(files, f)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return keys, fmt.Errorf("read age key file: %w", err)
		}
		keys.Age = append(keys.Age, string(b))
	}
	for _, f := range k.PGPKeyFile {
		b, err := os.ReadFile(f)
		if err != nil {
			return keys, fmt.Errorf("read PGP key file: %w", err)
		}
		keys.PGP = append(keys.PGP, b)
	}
	if len(k.SOPSSecret) == 0 {
		return keys, nil
	}
	cfg, err := g.RESTConfig()
	if err != nil {
		return keys, fmt.Errorf("--sops-secret needs the cluster: %w", err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return keys, err
	}
	secrets := schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
	for _, ref := range k.SOPSSecret {
		ns, name, ok := strings.Cut(ref, "/")
		if !ok || ns == "" || name == "" {
			return keys, &ExitError{Code: ExitUsage, Err: fmt.Errorf("--sops-secret %q: write NAMESPACE/NAME", ref)}
		}
		s, err := dyn.Resource(secrets).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return keys, fmt.Errorf("read SOPS keys from Secret %s: %w", ref, err)
		}
		data, _ := s.Object["data"].(map[string]any)
		names := make([]string, 0, len(data))
		for n := range data {
			names = append(names, n)
		}
		sort.Strings(names)
		found := 0
		for _, n := range names {
			enc, _ := data[n].(string)
			b, err := base64.StdEncoding.DecodeString(enc)
			if err != nil {
				return keys, fmt.Errorf("Secret %s key %s: %w", ref, n, err)
			}
			switch {
			case strings.HasSuffix(n, ".agekey"):
				keys.Age = append(keys.Age, string(b))
				found++
			case strings.HasSuffix(n, ".asc"):
				keys.PGP = append(keys.PGP, b)
				found++
			}
		}
		if found == 0 {
			return keys, fmt.Errorf("Secret %s holds no *.agekey or *.asc entry", ref)
		}
	}
	return keys, nil
}
