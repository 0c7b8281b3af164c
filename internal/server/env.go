package server

import (
	"fmt"
	"regexp"
)

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// reservedEnv are set by prosper itself for every release.
var reservedEnv = map[string]bool{"PORT": true, "PROSPER_APP": true, "PROSPER_RELEASE": true}

func validEnvName(k string) error {
	if !envName.MatchString(k) {
		return fmt.Errorf("config key %q is not a valid environment variable name: use letters, digits and _, not starting with a digit", k)
	}
	if reservedEnv[k] {
		return fmt.Errorf("config key %s is set by prosper for every release and cannot be changed", k)
	}
	return nil
}
