"""Performance measurement: device peaks and utilisation (peaks), one train step's cost (step_cost).

`jaxseg.plan` and the scripts in benchmarks/ build on these; nothing here parses a command line.
"""
