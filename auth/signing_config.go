package auth

import (
	"errors"
	"fmt"
	"regexp"
)

// Signing service names.
const (
	ServiceOpenSearch           = "es"   // Amazon OpenSearch Service domains
	ServiceOpenSearchServerless = "aoss" // Amazon OpenSearch Serverless collections
)

// SigningConfig says how requests to OpenSearch are signed.
type SigningConfig struct {
	// Service is "es" for a managed domain or "aoss" for a Serverless collection. Default: es.
	Service string `koanf:"service"`
	// Region of the domain or collection, e.g. eu-west-1. Required.
	Region string `koanf:"region"`
	// Compress gzips request bodies (Content-Encoding: gzip) and signs the
	// compressed bytes. Default: false.
	Compress bool `koanf:"compress"`
}

// DefaultSigningConfig returns the defaults; Region must still be set.
func DefaultSigningConfig() SigningConfig {
	return SigningConfig{Service: ServiceOpenSearch}
}

var regionRE = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d{1,2}$`)

// Validate reports every problem, each prefixed with its field path.
func (c SigningConfig) Validate() error {
	var errs []error
	switch c.Service {
	case ServiceOpenSearch, ServiceOpenSearchServerless:
	case "":
		errs = append(errs, errors.New(`signing.service: required ("es" or "aoss")`))
	default:
		errs = append(errs, fmt.Errorf(`signing.service: %q is not "es" (OpenSearch Service) or "aoss" (OpenSearch Serverless)`, c.Service))
	}
	switch {
	case c.Region == "":
		errs = append(errs, errors.New("signing.region: required"))
	case !regionRE.MatchString(c.Region):
		errs = append(errs, fmt.Errorf("signing.region: %q does not look like an AWS region such as us-east-1", c.Region))
	}
	return errors.Join(errs...)
}
