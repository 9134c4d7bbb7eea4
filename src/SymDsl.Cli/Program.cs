using SymDsl.Cli;

return SymcApp.Run(args, Console.Out, Console.Error);
