# tidegate's container image: a static binary on distroless, non-root.
# Without a Docker engine, hack/image builds the same image with
# go-containerregistry (make image).
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/tidegate/tidegate/internal/version.version=${VERSION}" -o /tidegate .

FROM gcr.io/distroless/static:nonroot
COPY --from=build /tidegate /tidegate
USER 65532:65532
ENTRYPOINT ["/tidegate"]
