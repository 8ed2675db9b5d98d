"""Query resolvers: validate arguments, call the data layer, report dropped items."""
