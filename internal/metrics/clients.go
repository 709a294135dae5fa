package metrics

import "github.com/prometheus/client_golang/prometheus"

// Service clients' grants are counted here, one series per client, rather
// than audited one row each: at thousands of grants a second an audit row
// per grant would be the audit log's whole size. Failures are audited.

func newGrants() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatehouse_client_grants_total", Help: "client_credentials grants issued, by client.",
	}, []string{"client_id"})
}

// ClientGrant counts one client_credentials grant of a client.
func (m *Metrics) ClientGrant(clientID string) {
	if m == nil {
		return
	}
	m.grants.WithLabelValues(clientID).Inc()
}
