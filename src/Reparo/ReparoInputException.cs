namespace Reparo;

/// <summary>
/// Bad input from the user: a missing or corrupt file, a wrong shape, an unknown name or option, an infeasible
/// request. The message is one line that says what is wrong and, where it helps, how to fix it; the command line
/// prints it and exits with code 2.
/// </summary>
public class ReparoInputException : Exception
{
    /// <summary>Creates the exception with a one-line message.</summary>
    public ReparoInputException(string message) : base(message) { }

    /// <summary>Creates the exception with a one-line message and the underlying cause.</summary>
    public ReparoInputException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>
/// The machine cannot run Reparo as it is (a native library that does not load, a solver that is missing). The message
/// is one line saying what is wrong; the command line prints it and exits with code 1.
/// </summary>
public sealed class ReparoEnvironmentException : Exception
{
    /// <summary>Creates the exception with a one-line message and the underlying cause.</summary>
    public ReparoEnvironmentException(string message, Exception inner) : base(message, inner) { }
}
