{{- define "common.service" -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ .name }}
  labels:
    release: {{ .root.Release.Name }}
    chart: {{ .root.Chart.Name }}
spec:
  ports:
    - port: {{ .port }}
      targetPort: {{ .port }}
{{- end -}}
