package install

import (
	"fmt"
	"os"

	"helm.sh/helm/v3/pkg/strvals"
	"sigs.k8s.io/yaml"
)

// ReadValuesFile reads a YAML file of values and merges it into dst, as Helm's
// --values does: maps merge key by key, anything else in the file replaces
// what dst held.
func ReadValuesFile(dst map[string]any, file string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("read values: %w", err)
	}
	var vals map[string]any
	if err := yaml.Unmarshal(data, &vals); err != nil {
		return fmt.Errorf("%w: %s is not a YAML map of values: %v", ErrInvalidValues, file, err)
	}
	merge(dst, vals)
	return nil
}

// SetValue sets one value in dst from a KEY=VALUE expression, as Helm's --set
// does: a.b=c sets a nested key, a={x,y} a list, several comma-separated pairs
// in one expression.
func SetValue(dst map[string]any, expr string) error {
	if err := strvals.ParseInto(expr, dst); err != nil {
		return fmt.Errorf("%w: --set %q: %v; write KEY=VALUE, such as registry=registry.example.com:5000", ErrInvalidValues, expr, err)
	}
	return nil
}

func merge(dst, src map[string]any) {
	for k, v := range src {
		sub, ok := v.(map[string]any)
		if cur, isMap := dst[k].(map[string]any); ok && isMap {
			merge(cur, sub)
			continue
		}
		dst[k] = v
	}
}
