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

{{/*
What secure endpoints and OTLP TLS add to every exporter container, as JSON {args, env, mounts,
volumes, probe}: probe is "HTTP", "HTTPS" or "TCP" (when every request needs credentials the
kubelet cannot give). Refuses what cannot work.
*/}}
{{- define "kso.secure" -}}
{{- $v := .Values -}}
{{- $tls := $v.tls -}}
{{- $args := list -}}
{{- $env := list -}}
{{- $mounts := list -}}
{{- $volumes := list -}}
{{- $users := $v.basicAuth.users | default dict -}}
{{- $requiresCert := has $tls.clientAuthType (list "RequireAnyClientCert" "RequireAndVerifyClientCert") -}}
{{- if and (or $users $v.authFilter.enabled) (not $tls.enabled) -}}
{{- fail "basicAuth, authFilter: credentials without tls.enabled would cross the network in clear" -}}
{{- end -}}
{{- if and $users $v.authFilter.enabled -}}
{{- fail "basicAuth with authFilter: both read the Authorization header; pick one" -}}
{{- end -}}
{{- if and $tls.clientAuthType (not $tls.enabled) -}}
{{- fail "tls.clientAuthType: client certificates need tls.enabled" -}}
{{- end -}}
{{- if $tls.enabled -}}
{{- if not $tls.secretName }}{{ fail "tls.secretName: tls.enabled needs the Secret with tls.crt and tls.key" }}{{ end -}}
{{- $mounts = append $mounts (dict "name" "tls" "mountPath" "/etc/kube-state-otel-tls" "readOnly" true) -}}
{{- $volumes = append $volumes (dict "name" "tls" "secret" (dict "secretName" $tls.secretName "defaultMode" 288)) -}}
{{- end -}}
{{- if or $tls.enabled $users $v.webConfig.existingSecret -}}
{{- $args = append $args "--tls-config=/etc/kube-state-otel-web/web-config.yaml" -}}
{{- $mounts = append $mounts (dict "name" "web-config" "mountPath" "/etc/kube-state-otel-web" "readOnly" true) -}}
{{- $volumes = append $volumes (dict "name" "web-config" "secret" (dict "secretName" (include "kso.webConfigSecret" .) "defaultMode" 288)) -}}
{{- end -}}
{{- if $v.authFilter.enabled }}{{ $args = append $args "--auth-filter" }}{{ end -}}
{{- $otlp := $v.otlp -}}
{{- if and $v.otelCollector.enabled (or $otlp.tls.secretName $otlp.headers.secretName) -}}
{{- fail "otlp.tls, otlp.headers: with otelCollector.enabled kube-state-otel pushes to the sidecar over localhost; the sidecar's config talks to the gateway" -}}
{{- end -}}
{{- with $otlp.tls.secretName -}}
{{- $dir := "/etc/kube-state-otel-otlp-tls" -}}
{{- if $otlp.tls.ca }}{{ $args = append $args (printf "--otlp-certificate=%s/%s" $dir $otlp.tls.ca) }}{{ end -}}
{{- if ne (empty $otlp.tls.cert) (empty $otlp.tls.key) }}{{ fail "otlp.tls.cert and otlp.tls.key: both or neither" }}{{ end -}}
{{- if $otlp.tls.cert -}}
{{- $args = append $args (printf "--otlp-client-certificate=%s/%s" $dir $otlp.tls.cert) -}}
{{- $args = append $args (printf "--otlp-client-key=%s/%s" $dir $otlp.tls.key) -}}
{{- end -}}
{{- $mounts = append $mounts (dict "name" "otlp-tls" "mountPath" $dir "readOnly" true) -}}
{{- $volumes = append $volumes (dict "name" "otlp-tls" "secret" (dict "secretName" . "defaultMode" 288)) -}}
{{- end -}}
{{- with $otlp.headers.secretName -}}
{{- $env = append $env (dict "name" "OTEL_EXPORTER_OTLP_HEADERS" "valueFrom" (dict "secretKeyRef" (dict "name" . "key" $otlp.headers.key))) -}}
{{- end -}}
{{- $probe := "HTTP" -}}
{{- if $tls.enabled }}{{ $probe = "HTTPS" }}{{ end -}}
{{- if or $users $requiresCert (and $v.webConfig.existingSecret $v.webConfig.tcpProbes) }}{{ $probe = "TCP" }}{{ end -}}
{{- toJson (dict "args" $args "env" $env "mounts" $mounts "volumes" $volumes "probe" $probe) -}}
{{- end -}}

{{/* The Secret holding the web config: the user's, or the generated one. */}}
{{- define "kso.webConfigSecret" -}}
{{- .Values.webConfig.existingSecret | default (printf "%s-web-config" .Values.name) -}}
{{- end -}}

{{/* The generated web config (exporter-toolkit's format) of tls and basicAuth. */}}
{{- define "kso.webConfig" -}}
{{- $tls := .Values.tls -}}
{{- $config := dict -}}
{{- if $tls.enabled -}}
{{- $server := dict "cert_file" "/etc/kube-state-otel-tls/tls.crt" "key_file" "/etc/kube-state-otel-tls/tls.key" -}}
{{- with $tls.minVersion }}{{ $_ := set $server "min_version" . }}{{ end -}}
{{- with $tls.clientAuthType -}}
{{- $_ := set $server "client_auth_type" . -}}
{{- if ne . "RequestClientCert" }}{{ $_ := set $server "client_ca_file" (printf "/etc/kube-state-otel-tls/%s" $tls.clientCA) }}{{ end -}}
{{- end -}}
{{- $_ := set $config "tls_server_config" $server -}}
{{- end -}}
{{- with .Values.basicAuth.users }}{{ $_ := set $config "basic_auth_users" . }}{{ end -}}
{{- toYaml $config -}}
{{- end -}}

{{/* A probe of `path` on the http-metrics port, as kso.secure's probe says. */}}
{{- define "kso.probe" -}}
{{- if eq .probe "TCP" -}}
tcpSocket: {port: http-metrics}
{{- else -}}
httpGet: {path: {{ .path }}, port: http-metrics{{ if eq .probe "HTTPS" }}, scheme: HTTPS{{ end }}}
{{- end -}}
{{- end -}}

{{/* A ServiceMonitor endpoint's scheme, TLS and credentials, as tls, basicAuth and authFilter say. */}}
{{- define "kso.scrapeSecurity" -}}
{{- $v := .Values -}}
{{- $sm := $v.serviceMonitor -}}
{{- $out := dict "scheme" "http" -}}
{{- if $v.tls.enabled -}}
{{- $tlsConfig := dict "ca" (dict "secret" (dict "name" $v.tls.secretName "key" "ca.crt")) "serverName" (printf "%s.%s.svc" $v.name .Release.Namespace) -}}
{{- $tlsConfig = mergeOverwrite $tlsConfig (deepCopy ($sm.tlsConfig | default dict)) -}}
{{- if and (has $v.tls.clientAuthType (list "RequireAnyClientCert" "RequireAndVerifyClientCert")) (not (and $tlsConfig.cert $tlsConfig.keySecret)) -}}
{{- fail "serviceMonitor.tlsConfig.cert and .keySecret: tls.clientAuthType requires Prometheus' client certificate" -}}
{{- end -}}
{{- $out = dict "scheme" "https" "tlsConfig" $tlsConfig -}}
{{- end -}}
{{- if $v.authFilter.enabled -}}
{{- if $sm.authorization }}{{ $_ := set $out "authorization" $sm.authorization }}{{ else }}{{ $_ := set $out "bearerTokenFile" $sm.bearerTokenFile }}{{ end -}}
{{- end -}}
{{- if $v.basicAuth.users -}}
{{- if not $sm.basicAuth }}{{ fail "serviceMonitor.basicAuth: basicAuth.users needs Prometheus' username and password (a Secret's keys)" }}{{ end -}}
{{- $_ := set $out "basicAuth" $sm.basicAuth -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}

{{/*
Custom Resource State for the topology's main workload, as JSON {args, mounts, volumes, rules,
only, configMap, text}: the flags; the ConfigMap mounted as a directory (not with subPath,
whose files never update: the binary re-reads the file when the kubelet swaps the volume's
..data); the ClusterRole rules (list/watch on the CRDs, on the custom resources of each group
of the config's spec.resources: its entries' resourcePlurals, or "*" when one has none or a
kind "*"; then rbac.extraRules); and the config's text for the generated ConfigMap (none with
existingConfigMap). All empty without customResourceState.enabled. Refuses what cannot work.
*/}}
{{- define "kso.customResourceState" -}}
{{- $c := .Values.customResourceState -}}
{{- $extra := .Values.rbac.extraRules | default list -}}
{{- $out := dict "args" (list) "mounts" (list) "volumes" (list) "rules" (list) "only" false "configMap" "" "text" "" -}}
{{- range $i, $rule := $extra -}}
{{- if not (and $rule.apiGroups $rule.resources $rule.verbs) }}{{ fail (printf "rbac.extraRules[%d]: apiGroups, resources and verbs, each a list" $i) }}{{ end -}}
{{- if without $rule.verbs "list" "watch" }}{{ fail (printf "rbac.extraRules[%d]: verbs list and watch only; the exporter reads nothing else" $i) }}{{ end -}}
{{- end -}}
{{- if not $c.enabled -}}
{{- if $c.only }}{{ fail "customResourceState.only: needs customResourceState.enabled (the workload would watch nothing)" }}{{ end -}}
{{- if $c.existingConfigMap }}{{ fail "customResourceState.existingConfigMap: needs customResourceState.enabled" }}{{ end -}}
{{- if $extra }}{{ fail "rbac.extraRules: for the custom resources of customResourceState, which is not enabled" }}{{ end -}}
{{- else -}}
{{- if and $c.config $c.existingConfigMap }}{{ fail "customResourceState.config and .existingConfigMap: one or the other" }}{{ end -}}
{{- if not (or $c.config $c.existingConfigMap) }}{{ fail "customResourceState.enabled: needs .config or .existingConfigMap" }}{{ end -}}
{{- if and $c.only (has $.Values.topology (list "sharded-by-kind" "pods-daemonset")) -}}
{{- fail (printf "customResourceState.only: with topology %s the main workload watches the kinds the others do not; use single or hash-sharded" $.Values.topology) -}}
{{- end -}}
{{- $rules := list (dict "apiGroups" (list "apiextensions.k8s.io") "resources" (list "customresourcedefinitions") "verbs" (list "list" "watch")) -}}
{{- $key := "config.yaml" -}}
{{- $name := printf "%s-custom-resource-state" .Values.name -}}
{{- if $c.existingConfigMap -}}
{{- if not $extra }}{{ fail "customResourceState.existingConfigMap: the chart cannot read it; grant list/watch on its custom resources with rbac.extraRules" }}{{ end -}}
{{- if not $c.key }}{{ fail "customResourceState.key: the key of existingConfigMap holding the config" }}{{ end -}}
{{- $key = $c.key -}}
{{- $name = $c.existingConfigMap -}}
{{- else -}}
{{- $text := "" -}}
{{- $config := dict -}}
{{- if kindIs "string" $c.config -}}
{{- $text = $c.config -}}
{{- $config = fromYaml $text -}}
{{- if hasKey $config "Error" }}{{ fail (printf "customResourceState.config: not YAML: %s" (get $config "Error")) }}{{ end -}}
{{- else if kindIs "map" $c.config -}}
{{- $config = $c.config -}}
{{- $text = printf "%s\n" (toYaml $config) -}}
{{- else -}}
{{- fail "customResourceState.config: the config as a string or a map" -}}
{{- end -}}
{{- $resources := dig "spec" "resources" list $config -}}
{{- if not (kindIs "slice" $resources) }}{{ fail "customResourceState.config: spec.resources is not a list" }}{{ end -}}
{{- if not $resources }}{{ fail "customResourceState.config: no spec.resources (kind: CustomResourceStateMetrics, as kube-state-metrics reads it)" }}{{ end -}}
{{- $byGroup := dict -}}
{{- range $i, $r := $resources -}}
{{- if not (kindIs "map" $r) }}{{ fail (printf "customResourceState.config: spec.resources[%d] is not a map" $i) }}{{ end -}}
{{- $gvk := $r.groupVersionKind | default dict -}}
{{- $group := $gvk.group | default "" | toString -}}
{{- if not $group }}{{ fail (printf "customResourceState.config: spec.resources[%d] has no groupVersionKind.group" $i) }}{{ end -}}
{{- $plural := "*" -}}
{{- if and $r.resourcePlural (ne (toString $gvk.kind) "*") }}{{ $plural = toString $r.resourcePlural }}{{ end -}}
{{- $_ := set $byGroup $group (append (get $byGroup $group | default list) $plural) -}}
{{- end -}}
{{- range $group := keys $byGroup | sortAlpha -}}
{{- $plurals := get $byGroup $group | uniq | sortAlpha -}}
{{- if has "*" $plurals }}{{ $plurals = list "*" }}{{ end -}}
{{- $rules = append $rules (dict "apiGroups" (list $group) "resources" $plurals "verbs" (list "list" "watch")) -}}
{{- end -}}
{{- $_ := set $out "configMap" $name -}}
{{- $_ := set $out "text" $text -}}
{{- end -}}
{{- $dir := "/etc/kube-state-otel-crs" -}}
{{- $args := list (printf "--custom-resource-state-config-file=%s/%s" $dir $key) -}}
{{- if $c.only }}{{ $args = append $args "--custom-resource-state-only" }}{{ end -}}
{{- $_ := set $out "args" $args -}}
{{- $_ := set $out "mounts" (list (dict "name" "custom-resource-state" "mountPath" $dir "readOnly" true)) -}}
{{- $_ := set $out "volumes" (list (dict "name" "custom-resource-state" "configMap" (dict "name" $name))) -}}
{{- $_ := set $out "rules" (concat $rules $extra) -}}
{{- $_ := set $out "only" (not (not $c.only)) -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}
