"""Use cases as transactions over the store, one module per area (organisation and
servers, certificates, trust stores, connectors, auth, renewal ...). Import the module you
use: nothing is loaded here, so a command loads only the services it runs."""
