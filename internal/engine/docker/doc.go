// Package docker holds, one package each, the names of the Docker SDK's API types and
// helpers that the framework uses, as aliases of the SDK's own: container, network,
// image, volume, mount, build, events, filters, registry, versions, errdefs, stdcopy,
// jsonmessage, nat and client. Values pass freely between them and the SDK's.
//
// Outside internal/engine the framework imports these packages and not the SDK's, and
// calls the engine through engine.API; so a move to another client module
// (github.com/moby/moby) changes what these names point to, here, and the adapter
// behind engine.API, and no code that uses them. Spec.Modify, the one place where
// SDK types are part of the public API, imports the SDK's package itself. See the
// section on the moby/moby modules in CONTRIBUTING.md.
package docker
