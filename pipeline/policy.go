package pipeline

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/portclass/portclass/classify"
	"github.com/portclass/portclass/classify/policy"
	"github.com/portclass/portclass/classify/veeam"
	"github.com/portclass/portclass/reports"
)

// PolicyOptions returns o adapted to verify captures against pol: WithPolicy, and no
// flow records in the summary (the verifier reads the flows from the run).
func PolicyOptions(o Options, pol *policy.Policy) Options {
	o = WithPolicy(o, pol)
	o.NoFlows = true
	return o
}

// WithPolicy returns o adapted to the user's policy pol: its Veeam options, its
// inventory added to o's, and its rules documenting traffic for the unexpected
// section (Options.Policy).
func WithPolicy(o Options, pol *policy.Policy) Options {
	o.Veeam = pol.Matrix().Options()
	o.Inventory = MergeInventory(o.Inventory, pol.Inventory())
	o.Policy = pol
	return o
}

// MergeInventory returns a with b's entries added.
func MergeInventory(a, b veeam.Inventory) veeam.Inventory {
	out := make(veeam.Inventory, len(a)+len(b))
	for r, es := range a {
		out[r] = slices.Clone(es)
	}
	for r, es := range b {
		for _, e := range es {
			if !slices.Contains(out[r], e) {
				out[r] = append(out[r], e)
			}
		}
	}
	return out
}

// Verify reads the inputs and checks every classified flow against pol (build the
// pipeline with PolicyOptions). When the run was interrupted the report covers what
// was read and the error wraps context.Canceled.
func (p *Pipeline) Verify(ctx context.Context, in Inputs, pol *policy.Policy, failOn policy.FailOn) (*reports.VerifyReport, error) {
	r, err := p.Read(ctx, in)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	s, err := r.Summary()
	if err != nil {
		return nil, err
	}
	ver := pol.NewVerifier()
	if err := r.Flows(func(f *classify.Flow) error { ver.Add(f); return nil }); err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	rep := reports.NewVerifyReport(ver.Result(), s, reports.VerifyOptions{FailOn: failOn, Service: p.ServiceName})
	return rep, r.Err()
}

// Learn reads the inputs and learns a policy from what worked in them: the hosts'
// Veeam roles and the established flows (policy.Learner). o.Service and o.Comment are
// filled in when empty. When the run was interrupted the learner holds what was read
// and the error wraps context.Canceled.
func (p *Pipeline) Learn(ctx context.Context, in Inputs, o policy.LearnOptions) (*policy.Learner, error) {
	r, err := p.Read(ctx, in)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if o.Service == nil {
		o.Service = p.ServiceName
	}
	if o.Comment == "" {
		var paths []string
		for _, in := range r.Result().Inputs {
			paths = append(paths, in.Path)
		}
		o.Comment = "Policy written by portclass policy learn from " + strings.Join(paths, ", ")
	}
	l, err := policy.NewLearner(p.matrix, r.Hosts(), o)
	if err != nil {
		return nil, err
	}
	if err := r.Flows(func(f *classify.Flow) error { l.Add(f); return nil }); err != nil {
		return nil, fmt.Errorf("learn: %w", err)
	}
	return l, r.Err()
}
