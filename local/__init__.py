"""The embedded local AWS stack behind `make run` (moto server, resources, events, state). Not packaged."""
