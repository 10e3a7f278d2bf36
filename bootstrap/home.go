package bootstrap

import (
	"path"
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

var unsafeName = regexp.MustCompile(`[^a-z0-9.-]+`)

// DefaultInventory names the inventory after the one path ("clusters/prod"
// → "prod"), the README's convention of one inventory per set of paths.
func DefaultInventory(paths []string) string {
	if len(paths) != 1 || paths[0] == "." {
		return "tidegate"
	}
	name := strings.Trim(unsafeName.ReplaceAllString(strings.ToLower(path.Base(paths[0])), "-"), "-.")
	if len(validation.IsDNS1123Subdomain(name)) > 0 {
		return "tidegate"
	}
	return name
}

// Title names a home in a pull request title.
func Title(home string) string {
	switch home {
	case HomeCronJob:
		return "CronJob"
	case HomeGitHub:
		return "GitHub Actions"
	default:
		return "GitLab CI"
	}
}
