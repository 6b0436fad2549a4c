{{/*
The workloads of .Values.topology, as a JSON list of
{key, kind, name, watch ("default" or the list of kinds), args, env}: the same workloads,
names and flags as deploy/overlays/<topology>.
*/}}
{{- define "kso.workloads" -}}
{{- $t := .Values.topology -}}
{{- $n := .Values.name -}}
{{- $all := list -}}
{{- range .Values.kinds }}{{ $all = concat $all .resources }}{{ end -}}
{{- $ws := list -}}
{{- if eq $t "single" -}}
{{- $ws = append $ws (dict "key" "main" "kind" "Deployment" "name" $n "watch" "default" "args" (list) "env" (list)) -}}
{{- else if eq $t "sharded-by-kind" -}}
{{- $rest := without $all "pods" "nodes" -}}
{{- $ws = append $ws (dict "key" "main" "kind" "Deployment" "name" $n "watch" $rest "args" (list) "env" (list)) -}}
{{- $ws = append $ws (dict "key" "pods" "kind" "Deployment" "name" (printf "%s-pods" $n) "watch" (list "pods") "args" (list) "env" (list)) -}}
{{- $ws = append $ws (dict "key" "nodes" "kind" "Deployment" "name" (printf "%s-nodes" $n) "watch" (list "nodes") "args" (list) "env" (list)) -}}
{{- else if eq $t "hash-sharded" -}}
{{- $env := list (dict "name" "POD_NAME" "fieldPath" "metadata.name") (dict "name" "POD_NAMESPACE" "fieldPath" "metadata.namespace") -}}
{{- $ws = append $ws (dict "key" "main" "kind" "StatefulSet" "name" $n "watch" "default" "args" (list "--pod=$(POD_NAME)" "--pod-namespace=$(POD_NAMESPACE)") "env" $env) -}}
{{- else if eq $t "pods-daemonset" -}}
{{- $ws = append $ws (dict "key" "main" "kind" "Deployment" "name" $n "watch" "default" "args" (list "--track-unscheduled-pods") "env" (list)) -}}
{{- $env := list (dict "name" "NODE_NAME" "fieldPath" "spec.nodeName") -}}
{{- $ws = append $ws (dict "key" "pods" "kind" "DaemonSet" "name" (printf "%s-pods" $n) "watch" (list "pods") "args" (list "--node=$(NODE_NAME)") "env" $env) -}}
{{- else -}}
{{- fail (printf "topology must be single, sharded-by-kind, hash-sharded or pods-daemonset, not %q" $t) -}}
{{- end -}}
{{- toJson $ws -}}
{{- end -}}

{{/*
Whether a workload (an entry of kso.workloads) elects a leader: the Deployments, with
leaderElection.enabled. "true" or "".
*/}}
{{- define "kso.elects" -}}
{{- $le := .root.Values.leaderElection -}}
{{- if $le.enabled -}}
{{- if eq .root.Values.topology "hash-sharded" -}}
{{- fail "leaderElection: hash-sharded replicas are each their own shard, so none would have a standby; use single or sharded-by-kind" -}}
{{- end -}}
{{- if eq .w.kind "Deployment" }}true{{ end -}}
{{- end -}}
{{- end -}}

{{/* A workload's leader election flags and env (kso.elects), as JSON {args, env}. */}}
{{- define "kso.election" -}}
{{- $le := .root.Values.leaderElection -}}
{{- $n := .root.Values.name -}}
{{- $lease := .w.name -}}
{{- if $le.leaseName }}{{ $lease = printf "%s%s" $le.leaseName (trimPrefix $n .w.name) }}{{ end -}}
{{- $args := list "--leader-election" (printf "--leader-election-lease-name=%s" $lease) "--leader-election-namespace=$(POD_NAMESPACE)" -}}
{{- with $le.leaseDuration }}{{ $args = append $args (printf "--leader-election-lease-duration=%s" .) }}{{ end -}}
{{- with $le.renewDeadline }}{{ $args = append $args (printf "--leader-election-renew-deadline=%s" .) }}{{ end -}}
{{- with $le.retryPeriod }}{{ $args = append $args (printf "--leader-election-retry-period=%s" .) }}{{ end -}}
{{- if $le.metricsLeaderOnly }}{{ $args = append $args "--metrics-leader-only" }}{{ end -}}
{{- toJson (dict "args" $args "env" (list (dict "name" "POD_NAMESPACE" "fieldPath" "metadata.namespace"))) -}}
{{- end -}}

{{/* The default kinds, flattened. */}}
{{- define "kso.defaultKinds" -}}
{{- $all := list -}}
{{- range .Values.kinds }}{{ $all = concat $all .resources }}{{ end -}}
{{- toJson $all -}}
{{- end -}}

{{- define "kso.labels" -}}
app.kubernetes.io/name: kube-state-metrics
app.kubernetes.io/part-of: kube-state-otel
{{- end -}}

{{- define "kso.securityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: 65534
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}
